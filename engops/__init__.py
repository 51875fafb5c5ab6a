"""The program: entry points (CLI, process runner, composition root, Bolt app, WSGI router, worker), the sandbox."""
