"""Independent test peers for beepgate's integration tests.

Written from the RFCs (3080, 3081, 3620, 1078, 4422, 5802) in Python's standard
library only; they share no code with the C implementation.  See README.md.
"""
