from itnet_ts.cli.main import main

main()
