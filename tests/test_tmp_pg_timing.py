import time
def test_timing(postgres_server):
    from sync_platform.store import Store
    for strategy in ["", " STRATEGY FILE_COPY"]:
        t=time.perf_counter(); url = postgres_server.create_database(); t1=time.perf_counter()
        s = Store.open(url); t2=time.perf_counter(); s.close(); postgres_server.drop_database(url); t3=time.perf_counter()
        print(f"create {t1-t:.3f} open {t2-t1:.3f} drop {t3-t2:.3f}")
    from sqlalchemy import text
    with postgres_server._admin.connect() as c:
        for strat in ["WAL_LOG", "FILE_COPY"]:
            t=time.perf_counter(); c.execute(text(f'CREATE DATABASE x STRATEGY {strat}')); t1=time.perf_counter(); c.execute(text('DROP DATABASE x WITH (FORCE)')); print(strat, f"{t1-t:.3f} drop {time.perf_counter()-t1:.3f}")
