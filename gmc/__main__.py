from gmc.cli import main

raise SystemExit(main())
