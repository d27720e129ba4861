"""A test file that cannot be imported: the runner must report it as a
failing test named runner_examples/test_broken::<collect>."""

raise RuntimeError("broken on purpose")


def test_never():
    pass
