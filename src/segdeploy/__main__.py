from segdeploy.cli import main

raise SystemExit(main())
