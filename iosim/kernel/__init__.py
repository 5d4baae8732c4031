"""The kernel: pages, page cache, pipes, sockets and the sending task's syscalls."""
