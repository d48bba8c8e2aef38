"""The command line: serve, types, new-channel NAME, token USER.

python -m {{ cookiecutter.package_name }} --help
"""

from azu_ws import run_cli

if __name__ == "__main__":
    run_cli(__package__ or "{{ cookiecutter.package_name }}")
