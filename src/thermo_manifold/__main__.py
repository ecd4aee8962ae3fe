from thermo_manifold.cli import main

raise SystemExit(main())
