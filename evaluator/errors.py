"""Stable error codes: each maps to one fixed human sentence and a fix hint.

Every refusal anywhere in Easel raises :class:`EaselError` with a code from
:data:`CODES`. Reports echo the code, its fixed sentence and hint, at most an
allowlisted identifier (``detail``) and the code's typed ``facts`` rendered by
evaluator/error_text.py, never raw participant text, so a hostile string
can't reach a PR comment or the site through an error.

Adding a code touches this file only: add one ``_code(...)`` line (and, when
it carries facts, its renderer in evaluator/error_text.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Who is at fault decides the exit status and the result status:
# submission -> exit 2 / "invalid"; data, evaluator, config -> exit 3 / "error".
SUBMISSION, DATA, EVALUATOR, CONFIG, GITHUB = "submission", "data", "evaluator", "config", "github"

EXIT_OK, EXIT_INVALID, EXIT_ERROR = 0, 2, 3

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:/\[\]-]{1,120}$")


@dataclass(frozen=True)
class ErrorCode:
    code: str
    fault: str
    sentence: str
    hint: str


CODES: dict[str, ErrorCode] = {}


def _code(code: str, fault: str, sentence: str, hint: str) -> None:
    assert code not in CODES, code
    CODES[code] = ErrorCode(code, fault, sentence, hint)


# --- configuration (competition.yaml, leaderboard.yaml) -------------------
_code("E_CONFIG", CONFIG, "A configuration file does not match its schema.",
      "Fix the key named in the message; README.md documents every key.")
_code("E_YAML_SYNTAX", SUBMISSION, "A YAML file could not be parsed.",
      "Check indentation and quoting; `python -c 'import yaml,sys; yaml.safe_load(open(sys.argv[1]))' FILE` shows the line.")
_code("E_META_ALIAS", SUBMISSION, "A YAML file uses anchors or aliases, which are not allowed.",
      "Write every value out in full; remove `&anchor` and `*alias` entries.")
_code("E_META_SIZE", SUBMISSION, "A YAML file is larger than allowed.",
      "submission.yaml must stay under 64 KiB; move long text to a linked page.")
_code("E_YAML_DEPTH", SUBMISSION, "A YAML file nests lists or mappings too deeply.",
      "Write the file flat, as in submissions/_template/submission.yaml; no value needs more than a few levels.")
_code("E_BASELINE_EXISTS", CONFIG, "The baselines of this track already exist.",
      "Pass --force to train and replace them, or delete the baselines/<model>/<track>/ folder named in the "
      "message first.")
_code("E_BASELINES_MISSING", CONFIG, "The baselines/ folder of an Easel checkout was not found.",
      "Run the command from the competition repository (pip install -e . there), or pass --repo PATH.")
_code("E_LEADERBOARD", CONFIG, "leaderboard.yaml does not match its schema.",
      "Restore the entry named in the message from git history; only the publish workflow writes this file.")

# --- submission.yaml -------------------------------------------------------
_code("E_META_MISSING", SUBMISSION, "submission.yaml is missing.",
      "Add submissions/<team>/<model>/submission.yaml; copy submissions/_template/submission.yaml.")
_code("E_META_SCHEMA", SUBMISSION, "submission.yaml does not match the schema.",
      "Fix the key shown so it matches submissions/_template/submission.yaml (README.md documents every key).")
_code("E_META_NAME", SUBMISSION, "The team or model name is not a safe identifier.",
      "Use 1-40 characters of lowercase letters, digits, '-' and '_', starting with a letter or digit.")
_code("E_META_DIR", SUBMISSION, "The submission directory does not match the team and model in submission.yaml.",
      "Move the files to submissions/<team>/<model>/ named as team and name in submission.yaml, or change "
      "team and name there to match the folder.")
_code("E_TRACK_UNKNOWN", SUBMISSION, "The track named in submission.yaml does not exist.",
      "Set track to one of the track ids listed in the message (from competition.yaml).")
_code("E_FORMAT", SUBMISSION, "The model format is not supported.",
      "Set model.format to saved_model, keras or onnx.")
_code("E_FORMAT_MISMATCH", SUBMISSION, "model.format does not match the model found at model.path.",
      "Set model.format to the format the message suggests (a folder with saved_model.pb is saved_model, "
      "a *.keras file is keras, a *.onnx file is onnx).")
_code("E_MODEL_MISSING", SUBMISSION, "The model file or directory named in submission.yaml does not exist.",
      "Set model.path to the model's path relative to the folder of submission.yaml, and commit the model there.")
_code("E_MODEL_EMPTY", SUBMISSION, "The model file is empty.",
      "Export the model again; a 0-byte file usually means the export failed.")
_code("E_MODEL_URL", SUBMISSION, "The model could not be fetched from its URL, or its bytes do not match model.sha256.",
      "Use an https URL on a host the organizers allow (limits.model_url_hosts) that serves the file without "
      "login within the size limit, and give the file's `sha256sum` as model.sha256.")
_code("E_MODEL_URL_OFF", SUBMISSION, "This competition does not accept models by URL.",
      "Commit the model file in the submission folder and use model.path instead of model.url.")
_code("E_MODEL_URL_HOST", SUBMISSION, "The model URL is not an https URL on a host the organizers allow.",
      "Host the file on one of the hosts listed in competition.yaml limits.model_url_hosts, over https.")
_code("E_MODEL_URL_SUFFIX", SUBMISSION, "The model URL does not end with its format's file suffix.",
      "End the URL path with .keras for keras, .onnx for onnx; a saved_model by URL is not accepted, "
      "commit its folder instead.")
_code("E_MODEL_HASH", SUBMISSION, "The model does not match the sha256 in submission.yaml.",
      "Recompute with `sha256sum MODEL` and update model.sha256.")
_code("E_PATH_ESCAPE", SUBMISSION, "A path points outside the submission directory.",
      "Keep every file inside submissions/<team>/<model>/; use relative paths without '..'.")
_code("E_SYMLINK", SUBMISSION, "The submission contains a symbolic link.",
      "Replace links with the real files.")
_code("E_HARDLINK", SUBMISSION, "The submission contains a hard link.",
      "Replace hard links with plain copies of the files.")
_code("E_SPECIAL_FILE", SUBMISSION, "The submission contains a device, pipe or socket file.",
      "Remove everything that is not a regular file or directory.")
_code("E_SIZE", SUBMISSION, "The submission is larger than the competition allows.",
      "Store the weights as float16 or use fewer channels or blocks; where limits.model_url_hosts lists hosts, "
      "a model file may instead be given by model.url with its sha256.")
_code("E_FILE_COUNT", SUBMISSION, "The submission has more files than allowed.",
      "Submit only the model and submission.yaml.")
_code("E_TREE_DEPTH", SUBMISSION, "The submission's folders nest too deeply.",
      "Keep the submission flat: the model and submission.yaml, with at most a few folder levels.")
_code("E_LFS_POINTER", SUBMISSION, "A file is a Git LFS pointer, not the file itself.",
      "Commit the real file or use model.url with its sha256.")

# --- model checks before loading -------------------------------------------
_code("E_MODEL_MALFORMED", SUBMISSION, "The model file is not a well-formed file of its declared format.",
      "Export it again with the snippet in submissions/_template/README.md; check model.format matches the file.")
_code("E_MODEL_LOAD", SUBMISSION, "The model could not be loaded.",
      "Re-export it with the snippet in submissions/_template/README.md and check it loads locally.")
_code("E_SIGNATURE", SUBMISSION, "The model's inputs or outputs do not match the contract.",
      "Take float32 NHWC images in [-1, 1] (two inputs, content then style, for example tracks) and return one "
      "output of the same shape; for float16 models, export float32 inputs and cast inside.")
_code("E_SIGNATURE_LAYOUT", SUBMISSION, "The model takes channels-first (NCHW) images; the contract is NHWC.",
      "Transpose inside the model: in PyTorch export a wrapper doing x.permute(0, 3, 1, 2) on the input "
      "and .permute(0, 2, 3, 1) on the output; in Keras use data_format='channels_last'.")
_code("E_SIGNATURE_BATCH", SUBMISSION, "The model's batch size is fixed; the contract needs a dynamic batch.",
      "Export with a dynamic batch: batch_shape=(None, H, W, 3) in Keras, tf.TensorSpec([None, None, None, 3]) "
      "for SavedModel, dynamic_axes={'input': {0: 'batch'}} in torch.onnx.export.")
_code("E_SAVEDMODEL_OP", SUBMISSION, "The SavedModel uses an operation that is not allowed.",
      "Remove the op shown (file, Python, print and state-changing ops are refused) and use plain numeric ops only.")
_code("E_SAVEDMODEL_SIGNATURE", SUBMISSION, "The SavedModel has no usable serving signature.",
      "Export with tf.saved_model.save(model, path, signatures=...) so 'serving_default' exists.")
_code("E_KERAS_LAYER", SUBMISSION, "The Keras file uses a layer class that is not allowed.",
      "Use built-in Keras layers only; export custom layers as a SavedModel instead.")
_code("E_KERAS_PATH_ARG", SUBMISSION, "A Keras layer argument looks like a file path or URL.",
      "Remove file paths and URLs from layer arguments (e.g. pass vocabularies inline).")
_code("E_KERAS_H5", SUBMISSION, "Legacy HDF5 Keras files are not accepted.",
      "Save with model.save('model.keras') (Keras 3 format).")
_code("E_KERAS_ARCHIVE", SUBMISSION, "The .keras archive is malformed.",
      "Save the model again with model.save('model.keras').")
_code("E_ZIP_BOMB", SUBMISSION, "An archive is nested, too large when unpacked, or has too many members.",
      "Save the model with the framework's own exporter; do not pack archives inside archives.")
_code("E_ONNX_DOMAIN", SUBMISSION, "The ONNX model uses an operator domain that is not allowed.",
      "Export with only the standard ONNX domain (opset 13 or newer), no custom operators.")
_code("E_ONNX_OP", SUBMISSION, "The ONNX model uses an operator that is not allowed.",
      "Replace the operator shown with standard numeric ONNX operators, then export again.")
_code("E_KERAS_H5_LINK", SUBMISSION, "The Keras weights use HDF5 external storage, external links or virtual datasets.",
      "Save the model again with model.save('model.keras'); its weights must hold their own data.")
_code("E_ONNX_EXTERNAL_DATA", SUBMISSION, "The ONNX model references external data outside its directory.",
      "Save with all tensors inside the .onnx file, or external data files next to it.")

# --- inference in the sandbox ----------------------------------------------
_code("E_TIMEOUT", SUBMISSION, "Inference took longer than the competition's time limit.",
      "Make the model faster or smaller; the limit is in competition.yaml (limits.timeout_s).")
_code("E_OOM", SUBMISSION, "Inference used more memory than the competition allows.",
      "Reduce activations (fewer channels, smaller batch-independent buffers); the limit is limits.memory_mb.")
_code("E_CRASH", SUBMISSION, "The model process exited unexpectedly during inference.",
      "Run the model locally on a batch of random [-1, 1] images and fix the error it raises.")
_code("E_PRED_SHAPE", SUBMISSION, "The model's output has the wrong shape.",
      "Return an image batch with exactly the input's shape [N, H, W, 3].")
_code("E_PRED_DTYPE", SUBMISSION, "The model's output is not float32.",
      "Cast the output to float32 before returning it.")
_code("E_PRED_NONFINITE", SUBMISSION, "The model returned NaN or infinite values.",
      "Check for divisions by zero and exploding activations; end with tanh.")
_code("E_PRED_RANGE", SUBMISSION, "The model's output is outside [-1, 1] beyond the tolerated margin.",
      "End the generator with tanh, or clip to [-1, 1]; values within 1e-3 of the range are clipped silently.")

# --- data and evaluator ------------------------------------------------------
_code("E_DATA_MISSING", DATA, "The dataset directory or its manifest is missing.",
      "Run `easel data synth` or `easel data prepare`, and pass the folder that holds the dataset ids.")
_code("E_DATA_MANIFEST", DATA, "The dataset does not match its manifest.",
      "Restore the file shown from the dataset's source, or rebuild the dataset with `easel data prepare`.")
_code("E_DATA_IMAGE", DATA, "A dataset image could not be read.",
      "Rebuild the dataset with `easel data prepare`.")
_code("E_DATA_TOO_SMALL", DATA, "A test split has fewer images than the track's minimum (min_test_images).",
      "Rebuild the dataset with `easel data prepare` from more images or with a larger --test-fraction, or lower "
      "the track's min_test_images in competition.yaml (scores on a handful of images rank noise).")
_code("E_DATA_PREPARE", DATA, "A dataset could not be built from the given folders.",
      "Point --a/--b at folders of readable images and --out at a new or empty folder (the log names the one at fault).")
_code("E_BACKBONE", EVALUATOR, "The feature backbone could not be loaded.",
      "Run `easel weights fetch` on a machine with network access, or check EASEL_CACHE.")
_code("E_WEIGHTS_HASH", EVALUATOR, "The backbone weights do not match their pin (sha256, or the published size and md5).",
      "Delete the cached file and run `easel weights fetch` again (or `--archive FILE` with a good copy).")
_code("E_NO_GPU", EVALUATOR, "The evaluation was required to run on a GPU, but TensorFlow sees none here.",
      "This is the runner's fault, not your submission's: the organizers install the gpu extra "
      "(pip install -e '.[gpu]') and the NVIDIA driver, or drop --require-gpu / EASEL_REQUIRE_GPU.")
_code("E_ORACLE_UNAVAILABLE", DATA, "No oracle result: the dataset's ideal outputs are unknown.",
      "Only datasets made by `easel data synth` have an oracle; prepared data has none.")
_code("E_INTERNAL", EVALUATOR, "The evaluator failed unexpectedly.",
      "This is a bug in Easel, not in your submission; the organizers have the log.")

# --- GitHub: scope check, bot, leaderboard binding ------------------------
_code("E_SCOPE_PATH", SUBMISSION, "The pull request changes files outside one submissions/<team>/<model>/ directory.",
      "Keep only your own submission directory in the pull request; open separate PRs for other changes.")
_code("E_SCOPE_MULTI", SUBMISSION, "The pull request changes more than one submission directory.",
      "Open one pull request per model.")
_code("E_SCOPE_EMPTY", SUBMISSION, "The pull request does not add or change any submission.",
      "Add submissions/<team>/<model>/ with submission.yaml and the model.")
_code("E_SCOPE_SUBMODULE", SUBMISSION, "The pull request adds a git submodule.",
      "Commit the files themselves instead of a submodule.")
_code("E_SHA_MOVED", SUBMISSION, "The pull request's head moved after it was approved for evaluation.",
      "A maintainer must approve the new commit by adding the label again.")
_code("E_SHA_FORMAT", GITHUB, "A commit SHA is not 40 hexadecimal characters.",
      "Pass the full commit SHA.")
_code("E_TEAMS", CONFIG, "teams.yaml does not match its schema.",
      "Fix teams.yaml as the message says (docs/organizers.md, section Teams); it is changed only by maintainer-reviewed PRs.")
_code("E_TEAM_UNREGISTERED", SUBMISSION, "The team whose folder the pull request changes is not registered in teams.yaml.",
      "Register the team first: open a pull request that only adds it to teams.yaml (id, name, members' GitHub logins); once a maintainer merged it, open the submission PR.")
_code("E_TEAM_MEMBER", SUBMISSION, "The pull request's author is not a member of the team whose folder it changes.",
      "Open the pull request from the account of a member listed for this team in teams.yaml, or ask a maintainer to add you to the team there first.")
_code("E_TEAM_FOLDER", SUBMISSION, "The pull request changes another team's folder.",
      "Change only submissions/<your team>/<model>/; each team owns its own folder.")
_code("E_TEAM_RESERVED", SUBMISSION, "The team id is reserved for Easel's own reference rows (oracle).",
      "Choose another team id for your folder and in teams.yaml.")
_code("E_TEAM_REGISTER_MIXED", SUBMISSION, "The pull request registers a team and adds a submission at once.",
      "Register first: split it into a pull request that only changes teams.yaml and, after it is merged, one with the submission.")
_code("E_TEAM_REGISTRATION", SUBMISSION, "The pull request changes teams.yaml: a registration is reviewed and merged by a maintainer, not evaluated.",
      "Wait for a maintainer to merge the registration, then open your submission pull request.")
_code("E_OWNERSHIP_UNCHECKED", CONFIG, "`easel fetch-pr` was called without the team ownership check.",
      "Pass --author with the pull request author's login and --teams with teams.yaml of the trusted checkout; --no-ownership-check is for tests only.")
_code("E_RATE_LIMIT", SUBMISSION, "This team has used all of today's evaluations.",
      "Wait until the time in the comment; the daily limit is limits.evaluations_per_day in competition.yaml.")
_code("E_GITHUB_AUTH", GITHUB, "GitHub refused the token (401).",
      "Check that GITHUB_TOKEN is set and has pull-requests: write.")
_code("E_GITHUB_FORBIDDEN", GITHUB, "GitHub refused the request (403) or rate-limited it.",
      "Wait until the reset time given, or check the token's permissions.")
_code("E_GITHUB_NOT_FOUND", GITHUB, "GitHub did not find the repository or pull request (404).",
      "Check --repo OWNER/NAME and --pr.")
_code("E_GIT", GITHUB, "A git command on the runner failed.",
      "Check the runner's checkout (fetch-depth: 0) and network access to the repository; the log names the git subcommand.")
_code("E_GITHUB_SERVER", GITHUB, "GitHub answered with a server error after several retries.",
      "Re-run the job later; https://www.githubstatus.com shows outages.")
_code("E_RESULT_ARTIFACT_MISSING", GITHUB, "The evaluation job succeeded, but the comment job could not download "
      "its result.json artifact.",
      "A maintainer re-runs the failed `comment` job (Re-run failed jobs): it downloads the artifact again and "
      "posts the scores, without evaluating or counting again. If the artifact has expired (kept 14 days), "
      "re-run all jobs of the run.")
_code("E_EVAL_CANCELLED", EVALUATOR, "The evaluation job was cancelled, lost or never started before it finished.",
      "It does not count towards your daily limit; a maintainer can approve the same commit again.")
_code("E_RESULT_SCHEMA", EVALUATOR, "result.json does not match its schema.",
      "Produce it with `easel evaluate`; it is never edited by hand.")
_code("E_RESULT_TIME", EVALUATOR, "The result's creation time lies in the future.",
      "Do not publish this result; check the evaluation runner's clock and evaluate again with `easel evaluate` (a result may be at most 5 minutes ahead of the machine reading it).")
_code("E_RESULT_BINDING", SUBMISSION, "The result does not belong to the merged submission or the current dataset.",
      "Re-evaluate the submission at the merged commit.")
_code("E_RESULT_BACKBONE", CONFIG, "The result was scored with another Easel version, backbone or dataset than the track's current entries.",
      "Re-evaluate with the track's current Easel version, backbone and dataset; after an intended change, re-score the track (rescore workflow, `easel leaderboard add --rescore`).")
_code("E_RESULT_STATUS", SUBMISSION, "Only a result with status ok can enter the leaderboard.",
      "Fix the errors listed in the result's PR comment and evaluate again.")
_code("E_RESULT_RANGE", EVALUATOR, "A metric value in the result lies outside the range that metric can take.",
      "Do not publish this result; re-evaluate with `easel evaluate` and report the value to the organizers if it recurs.")
_code("E_FINAL_LIMIT", SUBMISSION, "A team marks more entries of a track with `final: true` than the competition allows.",
      "Set `final: false` in the submission.yaml of the entries that should not count; limits.final_entries in competition.yaml is the maximum.")
_code("E_REVEAL_EARLY", CONFIG, "Private-split scores can be revealed only after the final phase has ended.",
      "Wait until the end of the last phase in competition.yaml (phases[].ends), then run the reveal again.")


def _identifier(detail: object) -> str | None:
    text = str(detail) if detail is not None else ""
    return text if _IDENTIFIER.match(text) else None


class EaselError(Exception):
    """A refusal with a stable code.

    ``detail`` is a short identifier (an op, a layer class, a key path) that a
    report may echo when it matches a strict character allowlist; ``message``
    is free text for the operator's log and the CLI, never for a PR comment.
    """

    def __init__(self, code: str, message: str = "", detail: object = None, facts: dict | None = None):
        if code not in CODES:
            raise KeyError(f"unknown error code {code!r}")
        from .error_text import fact_problem

        facts = dict(facts or {})
        problem = fact_problem(code, facts) if facts else None
        if problem is not None:  # a producer in Easel emits facts its code does not declare: a bug here
            raise TypeError(f"{code} facts: {problem}")
        self.code = code
        self.info = CODES[code]
        self.detail = _identifier(detail)
        self.facts = facts
        self.message = message or self.info.sentence
        super().__init__(f"{code}: {self.message}")

    @property
    def hint(self) -> str:
        """The fix hint: the code's own, or the one its facts make precise (evaluator/error_text.py)."""
        from .error_text import hint

        return hint(self.code, self.facts, self.info.hint)

    @property
    def fault(self) -> str:
        return self.info.fault

    @property
    def exit_code(self) -> int:
        return EXIT_INVALID if self.fault == SUBMISSION else EXIT_ERROR

    def as_dict(self) -> dict:
        """The only form of an error that leaves the trusted side (result.json)."""
        return {"code": self.code, "message": self.info.sentence,
                "hint": self.hint, "detail": self.detail, "facts": dict(self.facts)}


class ConfigError(EaselError):
    """A schema error in an organizer file: the message names file, key path and expectation."""

    def __init__(self, message: str, code: str = "E_CONFIG"):
        super().__init__(code, message)


def error_dict(code: str, detail: object = None, facts: dict | None = None) -> dict:
    return EaselError(code, detail=detail, facts=facts).as_dict()
