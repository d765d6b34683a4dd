from timeline.cli import main

if __name__ == "__main__":  # not when a worker process of a rebuild imports it
    main()
