from sqlalchemy import create_engine

engine = create_engine("postgresql+psycopg://app@db/app", pool_size=7, max_overflow=3, pool_timeout=10,
                       connect_args={"connect_timeout": 5})
