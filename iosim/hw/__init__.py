"""Hardware: devices that take time and bandwidth. They know nothing of files or paths."""
