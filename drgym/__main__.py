from drgym.cli import main

main()
