from mediacraft.worker_merge.main import run

run()
