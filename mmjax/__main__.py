from mmjax.cli import main

raise SystemExit(main())
