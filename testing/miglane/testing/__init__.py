"""Support shared by the tests and the benchmarks: lab slots, inventory builders, engine assembly.

Not part of the product's runtime: only tests/ and bench/ import it.
"""
