"""Grading submissions: kernels and the sandbox they run in, nbgrader's execution and driver, preflight of
the submitted files, the trusted verdicts, outcomes, the one gradebook writer, batches and feedback."""
