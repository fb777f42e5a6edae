from nclandscape.cli import main

raise SystemExit(main())
