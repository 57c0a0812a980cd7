"""The registry: immutable model versions in an artifact folder, metadata and stages in SQL."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from tuneforge.registry import artifacts, keys
from tuneforge.registry.errors import RegistryError
from tuneforge.registry.lineage import REFERENCE_PROFILE_FILE, describe_version, utc_now
from tuneforge.registry.refs import parse_ref, validate_name, validate_stage
from tuneforge.registry.schema import (
    bump_generation,
    connect,
    model_versions,
    registry_state,
    write_transaction,
)
from tuneforge.run.layout import (
    PRIVACY_AUDIT_DIR,
    PRIVACY_AUDIT_FILE,
    ROBUSTNESS_DIR,
    ROBUSTNESS_FILE,
    holds_data_rows,
)

REGISTRY_ENV = "TUNEFORGE_REGISTRY"
DATABASE_URL_ENV = "TUNEFORGE_REGISTRY_DATABASE_URL"
DEFAULT_LOCATION = Path("~/.tuneforge/registry")
DATABASE_FILE = "registry.db"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version; ``artifact_dir`` is a finished run folder that
    ``tuneforge.predict.load_predictor`` loads."""

    name: str
    version: int
    stage: str | None
    artifact_dir: Path
    task: str
    label_names: list[str]
    metrics: dict[str, Any]
    created_at: str
    lineage: dict[str, Any]
    description: str | None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def reference_profile(self) -> dict[str, Any] | None:
        """The monitoring reference profile written at push time, if the run had splits."""
        path = self.artifact_dir / REFERENCE_PROFILE_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def robustness(self) -> dict[str, Any] | None:
        """The run's `tuneforge robustness` summary (numbers per attack, no example texts), if
        the suite ran before the push."""
        path = self.artifact_dir / ROBUSTNESS_DIR / ROBUSTNESS_FILE
        if not path.is_file():
            return None
        report = json.loads(path.read_text(encoding="utf-8"))
        for attack in report.get("attacks", {}).values():
            # Versions pushed before examples had their own file carry them here.
            attack.pop("examples", None)
        return report

    def privacy_audit(self) -> dict[str, Any] | None:
        """The run's `tuneforge privacy audit` report (numbers only), if it ran before the push."""
        path = self.artifact_dir / PRIVACY_AUDIT_DIR / PRIVACY_AUDIT_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def verify(self) -> None:
        """Check the version's files before loading them: the weights still have the sha256
        recorded at push time, and no pickle file was slipped into the folder since.

        Raises:
            RegistryError: A weight file is missing or changed, or a pickle file is present.
        """
        artifacts.verify_version(self.artifact_dir, self.lineage.get("weights_sha256", {}))

    def to_dict(self) -> dict[str, Any]:
        """The version as JSON, with its robustness and privacy-audit summaries when the run has
        them."""
        payload = {**asdict(self), "artifact_dir": str(self.artifact_dir)}
        robustness = self.robustness()
        if robustness is not None:
            payload["robustness"] = robustness
        privacy_audit = self.privacy_audit()
        if privacy_audit is not None:
            payload["privacy_audit"] = privacy_audit
        return payload


def open_registry(location: str | Path | None = None, database_url: str | None = None) -> Registry:
    """Open (creating if needed) the registry in a folder.

    Args:
        location: The registry folder (artifacts/ and, by default, registry.db); None: the
            $TUNEFORGE_REGISTRY folder, else ~/.tuneforge/registry.
        database_url: A SQLAlchemy URL for the metadata (e.g. postgresql+psycopg://...); None:
            $TUNEFORGE_REGISTRY_DATABASE_URL, else SQLite registry.db in the folder.
    """
    location = location or os.environ.get(REGISTRY_ENV) or DEFAULT_LOCATION
    if "://" in str(location):
        raise RegistryError(
            f"{location} looks like a database URL: give the registry folder as the location "
            "and the URL as database_url (CLI: --registry FOLDER --database-url URL)."
        )
    root = Path(location).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RegistryError(f"Cannot create the registry folder {root}: {error}") from error
    url = database_url or os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{root / DATABASE_FILE}"
    return Registry(root, connect(url))


class Registry:
    """Versions, stages and API keys of one registry (see open_registry)."""

    def __init__(self, root: Path, engine: Engine) -> None:
        self.root = root
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- versions -----------------------------------------------------------------------------

    def push(
        self,
        run_dir: str | Path,
        name: str,
        description: str | None = None,
        stage: str | None = None,
        with_data: bool = False,
    ) -> ModelVersion:
        """Register a finished run as the next version of ``name``, atomically.

        The run's files (not its training checkpoints) are copied into a staging folder,
        verified by sha256, profiled for monitoring, made read-only and fsynced; then, under the
        registry's write lock, the folder is renamed to artifacts/<name>/<version> and the row
        committed. A failure or crash at any point leaves no visible version.

        Files holding texts of the data (saved splits, quarantine, explanation pages, robustness
        examples: run.layout.holds_data_rows) stay with the run unless ``with_data``; the
        reference profile is built from the run's splits either way, and the lineage lists what
        was left out.

        Raises:
            RegistryError: Bad name or stage, unfinished run, pickle or missing weights.
        """
        validate_name(name)
        if stage is not None:
            validate_stage(stage)
        run_dir = Path(run_dir)
        files = artifacts.run_files(run_dir)
        left_out = [] if with_data else [path for path in files if holds_data_rows(path)]
        copied = files if with_data else [path for path in files if not holds_data_rows(path)]
        artifacts.clean_staging(self.root)
        with artifacts.staging_folder(self.root) as folder:
            digests = artifacts.copy_verified(run_dir, copied, folder)
            has_profile = write_reference_profile(folder, splits_from=run_dir)
            columns = describe_version(folder, run_dir, digests, has_profile, left_out)
            artifacts.seal(folder)
            version = self._commit(folder, name, stage, description, columns)
        return self._get(name, version)

    def _commit(
        self, folder: Path, name: str, stage: str | None, description: str | None, columns: dict
    ) -> int:
        target = None
        try:
            with write_transaction(self.engine) as connection:
                bump_generation(connection)  # first: takes the write lock (see schema)
                latest = connection.execute(
                    select(func.max(model_versions.c.version)).where(model_versions.c.name == name)
                ).scalar()
                version = (latest or 0) + 1
                relative = f"{artifacts.ARTIFACTS_DIR}/{name}/{version}"
                if stage == "production":
                    _archive_production(connection, name)
                now = utc_now()
                connection.execute(
                    insert(model_versions).values(
                        name=name,
                        version=version,
                        stage=stage,
                        description=description,
                        artifact_path=relative,
                        created_at=now,
                        stage_changed_at=now if stage else None,
                        **columns,
                    )
                )
                # Last before the commit: a crash after the rename leaves a folder without a row,
                # which no lookup sees and the next push of this name discards.
                target = self.root / relative
                artifacts.move_into_place(folder, target)
        except BaseException:
            if target is not None and not folder.exists() and not self._committed(name, version):
                artifacts.discard(target, folder.parent)
            raise
        return version

    def _committed(self, name: str, version: int) -> bool:
        """Whether a version's row exists, after a push failed around its commit: its folder
        may be removed only if not. When the database cannot tell, the folder stays (a folder
        without a row is invisible, and the next push of the name discards it)."""
        try:
            with self.engine.connect() as connection:
                row = connection.execute(
                    select(model_versions.c.id).where(
                        model_versions.c.name == name, model_versions.c.version == version
                    )
                ).first()
        except Exception:
            return True
        return row is not None

    def promote(self, name: str, version: int, stage: str) -> ModelVersion:
        """Move a version to a stage; promoting to production archives the previous production
        version of that name (one production version per name).

        Raises:
            RegistryError: Unknown name or version, or a stage not in staging|production|archived.
        """
        validate_name(name)
        validate_stage(stage)
        with write_transaction(self.engine) as connection:
            bump_generation(connection)
            found = connection.execute(
                select(model_versions.c.id).where(
                    model_versions.c.name == name, model_versions.c.version == int(version)
                )
            ).first()
            if found is None:
                raise RegistryError(
                    f"{name} has no version {version}. {self._describe_versions(name)}"
                )
            if stage == "production":
                _archive_production(connection, name)
            connection.execute(
                update(model_versions)
                .where(model_versions.c.id == found.id)
                .values(stage=stage, stage_changed_at=utc_now())
            )
        return self._get(name, int(version))

    def resolve(self, ref: str) -> ModelVersion:
        """The version a reference names: "name" (production, else the newest non-archived
        version), "name@production", "name@staging" (newest in that stage) or "name@3".

        Raises:
            RegistryError: Unknown name, version or stage; the message lists what exists.
        """
        parsed = parse_ref(ref)
        versions = self.versions(parsed.name, must_exist=True)
        newest_first = versions[::-1]
        if parsed.version is not None:
            candidates = [item for item in versions if item.version == parsed.version]
        elif parsed.stage is not None:
            candidates = [item for item in newest_first if item.stage == parsed.stage]
        else:
            candidates = [item for item in newest_first if item.stage == "production"] or [
                item for item in newest_first if item.stage != "archived"
            ]
        if not candidates:
            what = {
                (True, False): f"no version {parsed.version}",
                (False, True): f"no version in stage {parsed.stage}",
                (False, False): "only archived versions (address one as name@<version>)",
            }[(parsed.version is not None, parsed.stage is not None)]
            raise RegistryError(f"{parsed.name} has {what}. {self._describe_versions(parsed.name)}")
        return candidates[0]

    def list_models(self) -> list[str]:
        """Names of the registered models, sorted."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(model_versions.c.name).distinct().order_by(model_versions.c.name)
            ).all()
        return [row.name for row in rows]

    def versions(self, name: str, must_exist: bool = False) -> list[ModelVersion]:
        """Every version of a model, oldest first.

        Raises:
            RegistryError: Invalid name, or none registered and ``must_exist``; otherwise an
                unknown name has no versions.
        """
        validate_name(name)
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(model_versions)
                .where(model_versions.c.name == name)
                .order_by(model_versions.c.version)
            ).all()
        if must_exist and not rows:
            raise RegistryError(
                f"No model named {name!r} in the registry. {self._describe_models()}"
            )
        return [self._to_version(row) for row in rows]

    def state_token(self) -> str:
        """Changes whenever a version is pushed or a stage changes: one primary-key read, cheap
        enough for every server worker to poll each second."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(registry_state.c.registry_id, registry_state.c.generation).where(
                    registry_state.c.id == 1
                )
            ).one()
        return f"{row.registry_id}:{row.generation}"

    def _get(self, name: str, version: int) -> ModelVersion:
        return next(item for item in self.versions(name) if item.version == version)

    def _to_version(self, row: Any) -> ModelVersion:
        return ModelVersion(
            name=row.name,
            version=row.version,
            stage=row.stage,
            artifact_dir=self.root / row.artifact_path,
            task=row.task,
            label_names=list(row.label_names),
            metrics=dict(row.metrics),
            created_at=row.created_at,
            lineage=dict(row.lineage),
            description=row.description,
        )

    def _describe_models(self) -> str:
        names = self.list_models()
        if not names:
            return f"The registry at {self.root} is empty: tuneforge registry push runs/<run> --name NAME."
        return f"Models: {', '.join(names)}."

    def _describe_versions(self, name: str) -> str:
        listed = [f"{item.version} ({item.stage or 'no stage'})" for item in self.versions(name)]
        return f"Versions of {name}: {', '.join(listed)}." if listed else self._describe_models()

    # --- API keys -----------------------------------------------------------------------------

    def create_key(
        self, tenant: str, models: list[str], rate_limit_per_minute: int | None = None
    ) -> tuple[keys.ApiKey, str]:
        """A new API key for ``tenant`` scoped to ``models`` (["*"]: all); the str is the
        secret token, returned this once and stored only as a hash."""
        return keys.create_key(self.engine, tenant, models, rate_limit_per_minute)

    def authenticate(self, secret: str) -> keys.ApiKey | None:
        """The key of a token; None for an unknown, malformed or revoked one."""
        return keys.authenticate(self.engine, secret)

    def revoke_key(self, key_id: str) -> None:
        keys.revoke_key(self.engine, key_id)

    def list_keys(self) -> list[keys.ApiKey]:
        return keys.list_keys(self.engine)


def _archive_production(connection: Any, name: str) -> None:
    connection.execute(
        update(model_versions)
        .where(model_versions.c.name == name, model_versions.c.stage == "production")
        .values(stage="archived", stage_changed_at=utc_now())
    )


def write_reference_profile(version_dir: Path, splits_from: Path) -> bool:
    """Write the monitoring reference profile into a staged version, from the split examples of
    the run folder ``splits_from``; False if it has none (the push goes on without one). Loading
    the staged model and predicting here also proves the staged copy is a loadable model before
    it becomes a version."""
    from tuneforge._atomic import write_json_atomic
    from tuneforge.monitoring import build_reference_profile
    from tuneforge.run.layout import SPLITS_DIR

    splits = [splits_from / SPLITS_DIR / f"{split}.jsonl" for split in ("validation", "test")]
    if not any(path.is_file() and path.stat().st_size > 0 for path in splits):
        return False
    profile = build_reference_profile(version_dir, splits_from=splits_from)
    write_json_atomic(profile, version_dir / REFERENCE_PROFILE_FILE)
    return True
