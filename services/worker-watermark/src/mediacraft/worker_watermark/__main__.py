from mediacraft.worker_watermark.main import run

run()
