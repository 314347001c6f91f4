/* The Miglane lab guest: a multiboot (v1) kernel whose whole RAM is worth migrating.
 *
 * QEMU loads it with -kernel (libvirt <os><kernel>); it runs in 32-bit flat protected mode,
 * without interrupts, paging or devices other than the first serial port.
 *
 * 1. Fill: every 4 KiB page of RAM gets the dword (page address XOR PAGE_MARK) at its offset
 *    0: conventional memory below 640 KiB, then everything above this kernel up to the top of
 *    RAM (only the legacy hole at 640 KiB-1 MiB and the kernel itself are left as they are).
 *    QEMU sends a zero page as a few bytes; a page holding one non-zero dword goes over the
 *    wire whole, so a migration of this guest moves its full memory and a bandwidth cap has
 *    something to slow down. The BIOS data in low memory is overwritten: nothing here calls
 *    the BIOS or takes an interrupt.
 * 2. With "dirty=N" (N > 0) on the kernel command line it then dirties the first N MiB from
 *    FILL_START forever: pass after pass it increments the dword at offset 4 of each page (the
 *    markers stay intact). That is a migration which cannot converge without help.
 *    Without it (or with dirty=0) it halts with interrupts disabled: memory never changes.
 *
 * The status block at STATUS (below FILL_START, above this kernel) can be read by the host
 * (virsh qemu-monitor-command / virDomainMemoryPeek): magic, phase, dirty MiB, passes, fill
 * end. Each phase is also announced on COM1 as a line "miglane-guest: <phase>".
 * Constants here are mirrored in miglane/lab/guest.py.
 */
        .set MB_MAGIC,        0x1BADB002
        .set MB_FLAGS,        0x00000003      /* modules page-aligned, memory info wanted */
        .set MB_INFO_MEM,     0x1             /* flags bit: mem_lower/mem_upper valid */
        .set MB_INFO_CMDLINE, 0x4             /* flags bit: cmdline valid */
        .set COM1,            0x3f8
        .set PAGE,            4096
        .set MIB,             0x100000
        .set FILL_START,      0x200000
        .set PAGE_MARK,       0x4d474c00      /* "\0LGM": Miglane */
        .set LOW_END,         0xa0000         /* end of conventional memory */
        .set STATUS,          0x1ff000
        .set STATUS_MAGIC,    0x534c474d      /* "MGLS" */
        .set PHASE_BOOTED,    1
        .set PHASE_FILLED,    2
        .set PHASE_DIRTYING,  3
        .set PHASE_HALTED,    4

        .code32
        .section .text
        .globl _start
        .align 4
multiboot_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

_start:
        cli
        movl $stack_top, %esp
        movl %ebx, %ebp                     /* multiboot info, kept in ebp */

        movl $STATUS_MAGIC, STATUS
        movl $PHASE_BOOTED, STATUS+4
        movl $0, STATUS+8
        movl $0, STATUS+12
        movl $msg_booted, %esi
        call puts

        /* fill end = top of RAM = 1 MiB + mem_upper KiB */
        movl $(FILL_START + MIB), %eax      /* fallback: a 3 MiB guest */
        testl $MB_INFO_MEM, (%ebp)
        jz 1f
        movl 8(%ebp), %eax
        shll $10, %eax
        andl $~(PAGE - 1), %eax
        addl $MIB, %eax
1:      movl %eax, fill_end
        movl %eax, STATUS+16

        call parse_dirty_mib
        movl %eax, dirty_mib
        movl %eax, STATUS+8

        /* 1. fill (the multiboot info after this kernel is overwritten: it was read above) */
        xorl %edi, %edi
        movl $LOW_END, %ecx
        call fill_range
        movl $(image_end + PAGE - 1), %edi
        andl $~(PAGE - 1), %edi
        movl $STATUS, %ecx
        call fill_range
        movl $FILL_START, %edi
        movl fill_end, %ecx
        call fill_range
        movl $PHASE_FILLED, STATUS+4
        movl $msg_filled, %esi
        call puts

        /* 2. dirty forever, or halt */
        movl dirty_mib, %ecx
        testl %ecx, %ecx
        jz halt
        shll $20, %ecx
        addl $FILL_START, %ecx              /* dirty end, at most the fill end */
        cmpl fill_end, %ecx
        jbe 2f
        movl fill_end, %ecx
2:      movl $PHASE_DIRTYING, STATUS+4
        movl $msg_dirtying, %esi
        call puts
dirty_pass:
        movl $FILL_START, %edi
3:      incl 4(%edi)
        addl $PAGE, %edi
        cmpl %ecx, %edi
        jb 3b
        incl STATUS+12
        jmp dirty_pass

halt:
        movl $PHASE_HALTED, STATUS+4
        movl $msg_halted, %esi
        call puts
4:      cli
        hlt
        jmp 4b

/* marks every page in [edi, ecx) */
fill_range:
1:      cmpl %ecx, %edi
        jae 2f
        movl %edi, %eax
        xorl $PAGE_MARK, %eax
        movl %eax, (%edi)
        addl $PAGE, %edi
        jmp 1b
2:      ret

/* eax = N of the first "dirty=N" on the kernel command line, 0 when there is none */
parse_dirty_mib:
        xorl %eax, %eax
        testl $MB_INFO_CMDLINE, (%ebp)
        jz 9f
        movl 16(%ebp), %esi                 /* NUL-terminated command line */
5:      cmpb $0, (%esi)
        je 9f
        movl $key_dirty, %edi
        movl %esi, %edx
6:      movb (%edi), %bl                    /* compare the key at esi */
        testb %bl, %bl
        jz 7f                               /* whole key matched; digits start at edx */
        cmpb (%edx), %bl
        jne 8f
        incl %edi
        incl %edx
        jmp 6b
8:      incl %esi
        jmp 5b
7:      movzbl (%edx), %ebx
        subl $'0', %ebx
        cmpl $9, %ebx
        ja 9f
        imull $10, %eax, %eax
        addl %ebx, %eax
        incl %edx
        jmp 7b
9:      ret

/* writes the NUL-terminated string at esi to COM1 */
puts:
        pushl %eax
        pushl %edx
        movw $COM1, %dx
1:      movb (%esi), %al
        testb %al, %al
        jz 2f
        outb %al, %dx
        incl %esi
        jmp 1b
2:      popl %edx
        popl %eax
        ret

        .section .data
        .align 4
fill_end:       .long 0
dirty_mib:      .long 0
key_dirty:      .asciz "dirty="
msg_booted:     .asciz "miglane-guest: booted\n"
msg_filled:     .asciz "miglane-guest: filled\n"
msg_dirtying:   .asciz "miglane-guest: dirtying\n"
msg_halted:     .asciz "miglane-guest: halted\n"
        .align 16
stack:          .space 4096
stack_top:
image_end:
