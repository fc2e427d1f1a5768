from mediacraft.standalone.main import run

run()
