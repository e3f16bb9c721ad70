from workers.handoff.agent import main

main()
