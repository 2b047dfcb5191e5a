"""Settings from the environment (prefix TERMINARZ_); with nothing set you get the embedded mode."""

from __future__ import annotations

from datetime import datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("contracts", "scheduler", "cases", "notifier", "gateway")
DEFAULT_PORTS = {"gateway": 8000, "contracts": 8001, "scheduler": 8002, "cases": 8003, "notifier": 8004}


class Settings(BaseSettings):
    """Everything a service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="TERMINARZ_", extra="ignore")

    mode: Literal["embedded", "distributed"] = "embedded"
    data_dir: Path = Path("data")
    # Distributed mode: a PostgreSQL URL; each service uses its own database named "<database>_<service>".
    database_url: str | None = None
    amqp_url: str | None = None
    exchange: str = "terminarz.events"
    queue_prefix: str = "terminarz"
    prefetch: int = 16
    bus_max_attempts: int = 5
    bus_retry_delay_ms: int = 1000
    # A consumer whose service registers batch handlers takes up to this many deliveries per transaction,
    # waiting up to the linger for more after the first (1: one message per transaction, as without them).
    bus_batch: int = Field(default=250, ge=1, le=1000)
    bus_batch_linger_ms: int = Field(default=0, ge=0, le=1000)

    host: str = "127.0.0.1"
    port: int | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Where the gateway finds the other services in distributed mode.
    contracts_url: str = "http://127.0.0.1:8001"
    scheduler_url: str = "http://127.0.0.1:8002"
    cases_url: str = "http://127.0.0.1:8003"
    notifier_url: str = "http://127.0.0.1:8004"
    # No defaults: embedded, `ensure_secrets` makes them in the data folder; distributed, they must be set.
    internal_token: str | None = Field(default=None, repr=False)
    secret_key: str | None = Field(default=None, repr=False)
    # Web sessions: idle timeout and absolute lifetime; login throttling (see docs/security.md).
    session_idle_minutes: int = Field(default=480, gt=0)
    session_max_hours: int = Field(default=168, gt=0)
    login_max_failures: int = Field(default=5, gt=0, description="per login, within the window")
    login_max_failures_per_address: int = Field(default=20, gt=0, description="per client address, in the window")
    login_failure_window_minutes: int = Field(default=15, gt=0)
    rules_dir: Path = Path("rules")
    # Pins the clock (ISO datetime, UTC if no offset); for demos, tests and simulations.
    frozen_time: datetime | None = None
    scheduler_tick_seconds: float = 30.0
    # How often the cases service applies the team changes (annexes) whose date has come.
    assignment_tick_seconds: float = 60.0
    outbox_poll_seconds: float = 2.0
    # Message records kept (services/common/messaging.py `prune`): published outbox events this many days, inbox
    # records twice as long; 0 keeps everything. Checked at start and every `prune_every_hours`.
    events_kept_days: int = Field(default=30, ge=0, le=3650)
    prune_every_hours: float = Field(default=6.0, gt=0)

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Terminarz <terminarz@localhost>"
    smtp_tls: bool = False  # implicit TLS (port 465); `smtp_starttls` upgrades a plain connection instead
    smtp_timeout: float = 30.0
    smtp_connections: Annotated[int, Field(ge=1, le=64)] = 4  # connections one notifier process sends over at once
    mail_max_attempts: Annotated[int, Field(ge=1)] = 8  # 4xx replies and network errors are retried this many times
    mail_retry_seconds: float = 30.0  # the first retry's delay; it doubles each time, up to an hour
    mail_claim_seconds: float = 120.0  # a claimed mail not reported sent within this is handed to another sender
    mail_poll_seconds: float = 2.0

    # Client notices (services/notifier/README.md).
    office_name: str = "Biuro Rachunkowe"
    # The office's bank account (NRB) the client pays its fee to: in the overdue-fee notice (notifier/fee_notices.py);
    # empty: the notice asks for the account on the invoice.
    office_account: str = ""
    # An overdue fee reminds the client automatically (contracts/fee_reminders.py: checked daily from the reminder
    # hour); off: only the manager's "Przypomnij klientowi" button announces one.
    fee_reminders: bool = True
    links_url: str | None = None  # base of the links in client mail; default public_url
    notifier_templates_dir: Path | None = None  # an admin's templates, used before the built-in ones
    notice_grouping: Literal["period", "case"] = "period"
    notice_send_time: time = time(15, 0)  # liability notices of a day go out together at this hour (Warsaw)
    reminder_time: time = time(8, 0)  # the daily reminders' hour (Warsaw)
    reminder_days: Literal["calendar", "business"] = "calendar"
    reminder_stop_days_after_due: Annotated[int, Field(ge=0)] | None = 14  # None: remind until confirmed or withdrawn
    notice_escalate_days_before_due: Annotated[int, Field(ge=0)] | None = 2  # None: never tell the accountant early
    notifier_tick_seconds: float = 30.0
    # A client task (documents for the month by day N, …): the client is first reminded this many days before its
    # due date, then daily once it has passed, until the task is done or the client confirms (notifier/duties.py).
    client_duty_remind_days_before: Annotated[int, Field(ge=0, le=60)] = 3

    # Deadlines watched by the cases service (services/cases/README.md): the morning job's hour (Warsaw, business
    # days), "due soon" N business days before the due date, the escalation ladder as business days overdue per
    # step (1st: the assignee, 2nd: the commissioner, 3rd and later: the office managers), and the managers'
    # addresses ("Maria Kierownik <maria@biuro.pl>, jan@biuro.pl") for the ladder's top and born-overdue summaries.
    case_watch_time: time = time(7, 0)
    case_due_soon_days: Annotated[int, Field(ge=0, le=30)] = 3
    case_escalation_steps: str = "1,3,5"
    case_managers: str = ""
    case_watch_tick_seconds: float = 60.0

    # Embedded: `terminarz backup` writes here; with backup_keep > 0 the running system also makes a backup a
    # day and keeps the newest backup_keep of them. Keep it outside data_dir (a backup never includes it).
    backup_dir: Path = Path("backups")
    backup_keep: int = Field(default=0, ge=0)
    # Input limits (docs/security.md), generous enough for a 50,000-contract CSV import (~15-25 MB).
    # Largest request body the gateway accepts (413 above); internal services accept twice this (a CSV in JSON).
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    import_max_rows: int = Field(default=100_000, ge=1)  # data rows of one CSV file
    import_max_columns: int = Field(default=100, ge=1)  # columns of its header
    import_max_field_chars: int = Field(default=1_000, ge=1)  # characters of one cell

    # Personal data (docs/operations.md): a terminated client's records are kept this many whole years after the
    # end of the year its last contract ended in (tax records: 5), then its personal data may be erased.
    retention_years: int = Field(default=5, ge=0, le=50)
    # Files on cases (services/cases/attachments.py): where their bytes live (default <data_dir>/attachments;
    # distributed: a folder every cases process shares) and the largest one accepted.
    attachments_dir: Path | None = None
    attachment_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)

    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="JSON log lines; default: on in distributed mode")

    @field_validator("office_account")
    @classmethod
    def _office_account_nrb(cls, value: str) -> str:
        """26 digits with matching check digits (spaces, dashes and a PL prefix accepted), or empty."""
        from services.common.accounts import AccountError, normalize_nrb

        if not value.strip():
            return ""
        try:
            return normalize_nrb(value, "TERMINARZ_OFFICE_ACCOUNT")
        except AccountError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("case_escalation_steps")
    @classmethod
    def _steps_increase(cls, value: str) -> str:
        """Business days overdue per step: positive whole numbers, each larger than the one before."""
        try:
            steps = [int(part) for part in value.replace(" ", "").split(",") if part]
        except ValueError:
            raise ValueError(f"case_escalation_steps: whole numbers joined by commas, not {value!r}") from None
        if any(step < 1 for step in steps) or steps != sorted(set(steps)):
            raise ValueError(f"case_escalation_steps must be positive and increasing (e.g. 1,3,5), got {value!r}")
        return ",".join(map(str, steps))

    @property
    def escalation_steps(self) -> list[int]:
        return [int(part) for part in self.case_escalation_steps.split(",") if part]

    @field_validator("reminder_stop_days_after_due", "notice_escalate_days_before_due", mode="before")
    @classmethod
    def _off_is_none(cls, value: object) -> object:
        """`TERMINARZ_REMINDER_STOP_DAYS_AFTER_DUE=off` (or empty) switches the rule off."""
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "never"):
            return None
        return value

    def service_url(self, service: str) -> str:
        return str(getattr(self, f"{service}_url"))

    def service_port(self, service: str) -> int:
        if self.port is not None:
            return self.port
        return DEFAULT_PORTS[service]

    def database_url_for(self, service: str) -> str:
        """Each service owns its own database: a SQLite file embedded, a PostgreSQL database distributed."""
        if self.database_url:
            base, _, name = self.database_url.rpartition("/")
            name = name.split("?")[0] or "terminarz"
            return f"{base}/{name}_{service}"
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / (service + '.db')}"

    @property
    def https(self) -> bool:
        """The office reaches us over HTTPS: cookies get the Secure flag, responses HSTS."""
        return self.public_url.lower().startswith("https://")

    @property
    def client_links_url(self) -> str:
        """Where client links point: `links_url`, or the office's public URL."""
        return (self.links_url or self.public_url).rstrip("/")

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.mode == "distributed"


@lru_cache
def get_settings() -> Settings:
    return Settings()
