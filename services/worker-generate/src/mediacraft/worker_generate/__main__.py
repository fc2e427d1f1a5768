from mediacraft.worker_generate.main import run

run()
