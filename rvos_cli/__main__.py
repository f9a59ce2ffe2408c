from rvos_cli.cli import main

main()
