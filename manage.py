#!/usr/bin/env python
"""Django's command-line utility for OncoPortal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncoportal.settings")
    from django.core.management import execute_from_command_line

    from oncoportal.startup import load_settings_or_exit

    load_settings_or_exit()  # a configuration error is one line, not a traceback

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
