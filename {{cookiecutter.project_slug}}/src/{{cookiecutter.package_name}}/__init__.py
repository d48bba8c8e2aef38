"""{{ cookiecutter.project_name }}: real-time channels over WebSockets."""
