from workers.closer.agent import main

main()
