from casaudit.cli import main

main()
