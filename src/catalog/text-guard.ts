// Text values with a NUL character are refused before they reach the catalog, on both dialects:
// PostgreSQL cannot store or compare them at all (it fails the whole statement), and SQLite would
// store them. A person typing one gets a 400, the same on both catalogs, instead of a 500 on one.
import { OperationNodeTransformer, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type PrimitiveValueListNode, type QueryResult, type RootOperationNode, type UnknownRow, type ValueNode } from 'kysely';

/** Input the catalog cannot hold; statusCode makes the HTTP layer answer 400 with the message. */
export class CatalogInputError extends Error {
  readonly statusCode = 400;
  constructor() {
    super('text may not contain NUL characters');
  }
}

/** A string the catalog refuses (PostgreSQL cannot hold a NUL). */
export const hasNul = (v: unknown): boolean => typeof v === 'string' && v.includes('\0');

class RefuseNul extends OperationNodeTransformer {
  protected override transformValue(node: ValueNode): ValueNode {
    if (hasNul(node.value)) throw new CatalogInputError();
    return super.transformValue(node);
  }

  protected override transformPrimitiveValueList(node: PrimitiveValueListNode): PrimitiveValueListNode {
    if (node.values.some(hasNul)) throw new CatalogInputError();
    return super.transformPrimitiveValueList(node);
  }
}

export class TextGuardPlugin implements KyselyPlugin {
  readonly #refuse = new RefuseNul();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#refuse.transformNode(args.node, args.queryId);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}
