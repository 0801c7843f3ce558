"""``python -m bayes_scaling.cli``: the ``bayes-scaling`` command without the console script."""

import sys

from bayes_scaling.cli import main

sys.exit(main())
