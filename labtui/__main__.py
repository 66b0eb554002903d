from labtui.cli.main import main

raise SystemExit(main())
