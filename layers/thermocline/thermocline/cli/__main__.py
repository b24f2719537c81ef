"""``python -m thermocline.cli``: the same command as the ``thermocline`` console script.

Only this runner is ``__main__``; the package is imported under its own name, so the ``UsageError``
that subcommands raise is the one ``main`` catches.
"""

import sys

from thermocline.cli import main

sys.exit(main())
