from workers.ingest.agent import main

main()
