// A small builder for ONNX graphs on top of onnx-proto's generated ModelProto. Names are
// generated from a counter and nothing depends on time or the environment, so the same builder
// call writes the same bytes — `hatake model build` relies on that to reproduce artifacts.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
const utf8 = (s: string) => new TextEncoder().encode(s);

export type ElemType = 'float64' | 'float32' | 'int64' | 'bool';
const ELEM: Record<ElemType, number> = {
  float64: DT.DOUBLE,
  float32: DT.FLOAT,
  int64: DT.INT64,
  bool: DT.BOOL,
};

export const IR_VERSION = 8;
export const OPSET = 15;
export const ML_OPSET = 3;
export const PRODUCER = 'hatake';

export type AttrValue =
  | { int: number }
  | { ints: number[] }
  | { float: number }
  | { string: string }
  | { strings: string[] }
  | { doubles: number[] };

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if ('int' in v) return { name, type: AT.INT, i: v.int };
  if ('ints' in v) return { name, type: AT.INTS, ints: v.ints };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  if ('string' in v) return { name, type: AT.STRING, s: utf8(v.string) };
  if ('strings' in v) return { name, type: AT.STRINGS, strings: v.strings.map(utf8) };
  // float64 values kept exactly, as ai.onnx.ml's *_as_tensor attributes allow
  return {
    name,
    type: AT.TENSOR,
    t: { name, dataType: DT.DOUBLE, dims: [v.doubles.length], doubleData: v.doubles },
  };
}

function valueInfo(name: string, type: ElemType, dims: (string | number)[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** Builds one ONNX graph node by node. */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;
  private readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  /** Declares a graph input and returns its name. */
  input(name: string, type: ElemType, dims: (string | number)[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** A float64 constant (an initializer). */
  f64(values: number[], dims: number[] = [values.length]): string {
    const name = `c${this.counter++}`;
    this.initializers.push({ name, dataType: DT.DOUBLE, dims, doubleData: values });
    return name;
  }

  /** An int64 constant (an initializer). */
  i64(values: number[], dims: number[] = [values.length]): string {
    const name = `c${this.counter++}`;
    this.initializers.push({ name, dataType: DT.INT64, dims, int64Data: values });
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    const out = `${opType.toLowerCase()}${this.counter++}`;
    this.nodes.push({
      opType,
      domain,
      name: out,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** Declares a graph output fed by `from`. */
  output(name: string, from: string, type: ElemType, dims: (string | number)[]): void {
    this.nodes.push({ opType: 'Identity', domain: '', name: `out_${name}`, input: [from], output: [name] });
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Serialises the model: deterministic bytes for the same graph and metadata. */
  encode(meta: { doc: string; ref: string; ml?: boolean }): Uint8Array {
    const opsetImport = [{ domain: '', version: OPSET }];
    if (meta.ml) opsetImport.push({ domain: 'ai.onnx.ml', version: ML_OPSET });
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: PRODUCER,
      producerVersion: '1',
      domain: 'jp.hatake',
      docString: meta.doc,
      opsetImport,
      metadataProps: [{ key: 'hatake.model', value: meta.ref }],
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** The `onnx` block of a card for a graph built here. */
export function onnxInfo(ml = false): {
  irVersion: number;
  opsets: Record<string, number>;
  producer: string;
} {
  return {
    irVersion: IR_VERSION,
    opsets: ml ? { '': OPSET, 'ai.onnx.ml': ML_OPSET } : { '': OPSET },
    producer: PRODUCER,
  };
}
