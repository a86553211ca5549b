"""`python3 -m necto_nb ...`: the `necto-nb` command, where its script is not on PATH yet."""

from necto_nb.cli import main

raise SystemExit(main())
