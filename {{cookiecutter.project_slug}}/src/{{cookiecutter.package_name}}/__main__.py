"""The command line: serve, types, new-channel NAME, token USER.

{{ cookiecutter.project_slug }} --help              # installed with the project (pyproject.toml)
python -m {{ cookiecutter.package_name }} --help    # the same, from the source
"""

from azu_ws import run_cli


def main() -> None:
    """The `{{ cookiecutter.project_slug }}` command."""
    run_cli(__package__ or "{{ cookiecutter.package_name }}")


if __name__ == "__main__":
    main()
