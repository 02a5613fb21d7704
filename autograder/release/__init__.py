"""Making what students receive: the library regions and their stubs, the student build, example
submissions, the trusted expected values recorded from the source, and the check that nothing secret leaks."""
