"""The toys that tests/test_extending.py adds to a copy of the repository, following
docs/extending.md: each file here is copied to the path its docstring names."""
