from workers.router.agent import main

main()
