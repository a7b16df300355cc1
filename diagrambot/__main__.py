import sys

from diagrambot.cli import main

sys.exit(main())
