"""``python -m jobs worker …``: the job commands without the full ``wuyepay`` group."""
import click

from jobs.cli import register


@click.group()
def main():
    """WuyePay background jobs."""


register(main)

if __name__ == "__main__":
    main(prog_name="python -m jobs")
