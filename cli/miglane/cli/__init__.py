"""The `miglane` console script and its operator subcommands."""
