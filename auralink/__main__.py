from auralink.cli import main

raise SystemExit(main())
