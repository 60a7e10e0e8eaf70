from soonish.cli import main

main()
