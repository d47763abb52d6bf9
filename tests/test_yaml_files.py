import pytest

from drgym.errors import ConfigError
from drgym.yaml_files import line_of, read_yaml

TEXT = "actor:\n  lr: 1\n  gpus: 2\ncritic:\n  gpus: 3\n"


def test_line_of_finds_nested_keys_in_order():
    assert line_of(TEXT, ("critic", "gpus")) == 5
    assert line_of(TEXT, ("actor", "gpus")) == 3
    assert line_of(TEXT, ("actor", "missing")) == 1  # a missing field is reported at its parent
    assert line_of(TEXT, ("rubrics", 0, "weight")) is None


def test_read_yaml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.yaml does not exist"):
        read_yaml(tmp_path / "nope.yaml", "config file")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        read_yaml(tmp_path / "bad.yaml", "config file")


def test_price_file_errors_name_the_line(tmp_path):
    from drgym.benchmarks.costs import load_prices

    (tmp_path / "prices.yaml").write_text("currency: USD\nmodels:\n  gpt:\n    input: cheap\n")
    with pytest.raises(ConfigError, match=r"prices\.yaml:4: field 'models\.gpt\.input'"):
        load_prices(tmp_path / "prices.yaml")


def test_an_error_about_the_whole_mapping_points_at_the_named_key():
    from pydantic import BaseModel, ValidationError, model_validator

    from drgym.yaml_files import field_error

    class Spec(BaseModel):
        kind: str
        model: str = ""

        @model_validator(mode="after")
        def _needs_model(self):
            if self.kind == "openai" and not self.model:
                raise ValueError("an openai policy needs a model")
            return self

    text = "name: mine\nkind: openai\n"
    with pytest.raises(ValidationError) as caught:
        Spec.model_validate({"kind": "openai"})
    error = field_error("p.yaml", text, caught.value, top_level="kind")
    assert str(error).startswith("p.yaml:2: field 'kind': Value error, an openai policy needs a model")
    assert str(field_error("p.yaml", text, caught.value)).startswith("p.yaml: field '(top level)'")
