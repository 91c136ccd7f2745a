"""Hello, World! as an HTTP function of the official Python Functions Framework, for
scripts/bench's comparison."""


def hello(request):
    return "Hello, World!"
