"""Assets over every partition's results."""
