"""A small project of the library's tests: what a generated project holds, in miniature."""
