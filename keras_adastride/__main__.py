"""``python -m keras_adastride``: the same as the ``keras-adastride`` command."""

import sys

from keras_adastride.cli import main

sys.exit(main())
